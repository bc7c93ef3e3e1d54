//! 系统设置 (admin): what this installation runs with, read-only — the SSH jumpbox's
//! address and host key fingerprint (to compare with what clients are shown on their
//! first connection), session and lockout rules, the Docker status worker.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::config::Settings;
use crate::jumpbox::Jumpbox;
use crate::startup::AppState;
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
}

pub async fn index(st: web::Data<AppState>, ctx: Ctx) -> Result<HttpResponse, WebError> {
    ctx.me()?;
    render(SettingsPage {
        l: &ctx,
        s: &st.settings,
        jumpbox: st.jumpbox.get(),
    })
}
