//! One integration-test binary against a real Postgres (SUANLI_TEST_PG); a module
//! per capability.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// a scenario reads top to bottom; the 80-line limit is for src/ (clippy.toml)
#![allow(clippy::too_many_lines)]

mod accounts;
mod admin_pages;
mod auth;
mod browser;
mod browser_lists;
mod browser_pages;
mod catalog;
mod forward;
mod health;
mod helpers;
mod home;
mod instance_page;
mod instances;
mod jumpbox;
mod lxd_client;
mod nat;
mod node_probe;
mod pages;
mod permissions;
mod pipes;
mod recovery;
mod security;
mod sftp;
mod ssh;
mod status;
mod streams;
mod tls_dockerd;
mod wizard;
mod zjmf;
mod zjmf_strict;
