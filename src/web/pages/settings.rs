//! 系统设置 (admin): what this installation runs with, read-only — HTTPS (the served
//! certificate's names, end and SHA-256 fingerprint, the local CA's), the SSH jumpbox's
//! address and host key fingerprint (to compare with what clients are shown on their
//! first connection), session and lockout rules, the Docker status worker, and what the
//! ZJMF /api/ drives (LXD socket, bridge, pool, where port forwards listen and why, NAT
//! chains, the ports it will not forward).

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::config::Settings;
use crate::domain::jumpbox::Jumpbox;
use crate::domain::nat::Listen;
use crate::domain::tls::Https;
use crate::ops::Context;
use crate::web::error::WebError;
use crate::web::extract::Ctx;
use crate::web::render::render;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    l: &'a Ctx,
    s: &'a Settings,
    /// None when the jumpbox is disabled
    jumpbox: Option<&'a Jumpbox>,
    /// None when the panel does not serve HTTPS itself
    https: Option<&'a Https>,
    /// whether the ZJMF /api/ has tokens (is open at all)
    zjmf_on: bool,
    /// the TCP ports port forwards may not take (the panel's, the jumpbox's)
    reserved: String,
    /// where port forwards listen
    nat: NatListen,
}

/// Where port forwards listen, as the page says it.
struct NatListen {
    /// the addresses, comma-separated; empty when none was found
    addresses: String,
    /// the i18n key saying where they come from
    source: &'static str,
    /// the default route's interface, when the addresses are its
    interface: String,
    /// why none was found
    missing: Option<String>,
}

impl NatListen {
    fn new(listen: &Listen) -> Self {
        let (source, interface, missing) = match listen {
            Listen::Configured(_) => ("settings.nat_configured", String::new(), None),
            Listen::Detected { interface, .. } => {
                ("settings.nat_detected", interface.clone(), None)
            }
            Listen::Missing(why) => ("settings.nat_missing", String::new(), Some(why.clone())),
        };
        NatListen {
            addresses: listen.list(),
            source,
            interface,
            missing,
        }
    }
}

pub async fn index(st: web::Data<Context>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    ctx.me()?;
    render(SettingsPage {
        l: &ctx,
        s: &st.settings,
        jumpbox: st.jumpbox.get(),
        https: st.https.get(),
        zjmf_on: !st.settings.zjmf.tokens().is_empty(),
        reserved: reserved_list(crate::ops::nat::reserved_ports(&st)),
        nat: NatListen::new(crate::ops::nat::listen(&st).await),
    })
}

/// The reserved ports, once each, in order.
fn reserved_list(mut ports: Vec<u16>) -> String {
    ports.retain(|p| *p != 0);
    ports.sort_unstable();
    ports.dedup();
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{Listen, NatListen};

    #[test]
    fn where_forwards_listen_says_where_it_comes_from() {
        let a = std::net::Ipv4Addr::new(192, 0, 2, 2);
        for (why, listen, source, interface, missing) in [
            (
                "configured",
                Listen::Configured(a),
                "settings.nat_configured",
                "",
                false,
            ),
            (
                "detected",
                Listen::Detected {
                    interface: "eth0".into(),
                    addresses: vec![a],
                },
                "settings.nat_detected",
                "eth0",
                false,
            ),
            (
                "nothing found",
                Listen::Missing("no default route".into()),
                "settings.nat_missing",
                "",
                true,
            ),
        ] {
            let view = NatListen::new(&listen);
            assert_eq!(
                (view.source, view.interface.as_str(), view.missing.is_some()),
                (source, interface, missing),
                "{why}"
            );
            assert_eq!(
                view.addresses,
                if missing { "" } else { "192.0.2.2" },
                "{why}"
            );
        }
    }

    #[test]
    fn reserved_ports_are_listed_once_in_order() {
        assert_eq!(
            super::reserved_list(vec![8080, 0, 2026, 8080]),
            "2026, 8080"
        );
    }
}
