//! The rows ops hands to the doors to render. They are plain structs that db/ reads
//! (Diesel derives them from the schema); a door names them from here, never from db/,
//! and gets them only from an ops function.

pub use crate::db::audit::{AuditFilter, AuditLog, NewAuditLog};
pub use crate::db::companies::{Company, CompanyListRow};
pub use crate::db::images::{Image, SORTS as IMAGE_SORTS};
pub use crate::db::instances::{InstanceEvent, InstanceView, NodeChoice};
pub use crate::db::login_sessions::LoginSession;
pub use crate::db::nodes::{Node, SORTS as NODE_SORTS};
pub use crate::db::permissions::Permission;
pub use crate::db::specs::{SORTS as SPEC_SORTS, Spec};
pub use crate::db::users::{User, UserListRow};
pub use crate::db::zjmf::NatRule;
pub use crate::docker::engine::EngineFacts;
pub use crate::ops::dashboard::{AdminDashboard, CustomerDashboard};
