//! What the outside security test found (issue 14), each with its regression test on the
//! real services: tenants' networks on the real Docker engine, and login security on both
//! doors (web and the SSH jumpbox with the real OpenSSH client), browser login sessions,
//! and the jumpbox before login.

mod login;
mod network;
mod preauth;
mod sessions;
mod tenants;
