//! Long-running background tasks of the server process.

pub mod lxd_sampler;
pub mod status;
