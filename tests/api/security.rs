//! What the outside security test found (issue 14), each with its regression test on the
//! real services: tenants' networks on the real Docker engine, and login security on both
//! doors (web and the SSH jumpbox with the real OpenSSH client).

mod csp;
mod headers;
mod login;
mod network;
mod redirects;
mod sessions;
