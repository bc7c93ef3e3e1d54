//! What the outside security test found (issue 14), each with its regression test on the
//! real services: tenants' networks on the real Docker engine, login security on both
//! doors (web and the SSH jumpbox with the real OpenSSH client), browser login sessions,
//! the jumpbox before login, redirects, security headers with Chromium, the first admin's
//! password file, the port isolation of the ZJMF LXD containers on the real LXD, and the
//! panel's own HTTPS with reqwest and Chromium.

mod csp;
mod first_admin;
mod headers;
mod login;
mod lxd;
mod network;
mod preauth;
mod redirects;
mod sessions;
mod tenants;
mod tls;
