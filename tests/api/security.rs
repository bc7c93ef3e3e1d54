//! What the outside security test found (issue 14), each with its regression test on the
//! real services: tenants' networks on the real Docker engine, login security on both
//! doors (web and the SSH jumpbox with the real OpenSSH client), browser login sessions,
//! the jumpbox before login, redirects, and security headers with Chromium.

mod csp;
mod headers;
mod login;
mod network;
mod preauth;
mod redirects;
mod sessions;
mod tenants;
