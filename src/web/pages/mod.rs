//! HTML handlers, one module per capability. Each handler extracts, calls ops/, renders.

pub mod account;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod companies;
pub mod home;
pub mod images;
pub mod instances;
pub mod lxd;
pub mod nodes;
pub mod permissions;
pub mod settings;
pub mod specs;
pub mod streams;
pub mod users;

use askama::Template;

use super::extract::Ctx;

/// The full-page fallback of a dialog partial (new/edit opened without HTMX).
#[derive(Template)]
#[template(path = "form_page.html")]
pub struct FormPage<'a> {
    pub l: &'a Ctx,
    pub body: String,
}
