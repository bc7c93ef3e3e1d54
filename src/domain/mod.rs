//! Pure rules: no actix, diesel, IO or clock. Everything here takes its inputs
//! (including "now") as arguments and is unit-tested in place.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod container;
pub mod device;
pub mod fields;
pub mod forward;
pub mod ids;
pub mod instances;
pub mod jumpbox;
pub mod lifecycle;
pub mod listing;
pub mod nat;
pub mod port_isolation;
pub mod redirect;
pub mod routes;
pub mod sftp;
pub mod tenancy;
pub mod tls;
pub mod wizard;
pub mod zjmf;
