//! Suanli: a self-hosted GPU compute rental panel.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod crypto;
pub mod db;
pub mod docker;
pub mod domain;
pub mod host_net;
pub mod i18n;
pub mod iptables;
pub mod jumpbox;
pub mod lxd;
pub mod node_ssh;
pub mod ops;
pub mod startup;
pub mod tls;
pub mod web;
pub mod workers;
