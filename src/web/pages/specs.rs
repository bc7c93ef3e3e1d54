//! 产品规格 specs: templates and ops for the shared catalog handlers.

use askama::Template;

use super::catalog::{CatalogPage, ListView};
use crate::domain::catalog::{Catalog, NewSpec, SpecForm};
use crate::domain::fields::{FieldErrors, format_cents};
use crate::domain::listing::{ListQuery, Page};
use crate::ops::Context;
use crate::ops::views::{SPEC_SORTS, Spec};
use crate::ops::{self, OpsError};
use crate::web::extract::Ctx;

pub struct Specs;

#[derive(Template)]
#[template(path = "specs/index.html")]
struct SpecsPage<'a> {
    l: &'a Ctx,
    v: &'a ListView<Spec>,
}

#[derive(Template)]
#[template(path = "specs/_list.html")]
struct SpecListPartial<'a> {
    l: &'a Ctx,
    v: &'a ListView<Spec>,
}

#[derive(Template)]
#[template(path = "specs/_form.html")]
struct SpecFormPartial<'a> {
    l: &'a Ctx,
    id: Option<i64>,
    form: &'a SpecForm,
    errors: &'a FieldErrors,
    /// the GPU models the nodes declare (offered; free text stays possible)
    models: &'a [String],
}

/// fen → "3.50", for templates
impl CatalogPage for Specs {
    const KIND: Catalog = Catalog::Specs;
    const SORTS: &'static [&'static str] = SPEC_SORTS;
    type Row = Spec;
    type Form = SpecForm;
    /// the GPU models the nodes declare
    type Extras = Vec<String>;

    async fn list(st: &Context, q: ListQuery) -> Result<Page<Spec>, OpsError> {
        ops::catalog::list_specs(st, q).await
    }

    async fn extras(st: &Context) -> Result<Vec<String>, OpsError> {
        ops::catalog::gpu_models(st).await
    }

    fn blank_form() -> SpecForm {
        SpecForm {
            listed: Some("on".into()),
            ..SpecForm::default()
        }
    }

    async fn load_form(st: &Context, id: i64) -> Result<SpecForm, OpsError> {
        let s = ops::catalog::spec(st, id).await?;
        Ok(SpecForm {
            name: s.name,
            gpu_model: s.gpu_model,
            gpu_count: s.gpu_count.to_string(),
            cpu_cores: s.cpu_cores.to_string(),
            memory_gb: s.memory_gb.to_string(),
            system_disk_gb: s.system_disk_gb.to_string(),
            data_disk_gb: s.data_disk_gb.to_string(),
            price_per_hour: format_cents(s.price_per_hour_cents),
            listed: s.listed.then(|| "on".into()),
            remark: s.remark,
        })
    }

    async fn save(st: &Context, id: Option<i64>, form: &SpecForm) -> Result<(), OpsError> {
        ops::catalog::save_spec(st, id, NewSpec::parse(form)?).await
    }

    fn list_page<'a>(l: &'a Ctx, v: &'a ListView<Spec>) -> impl Template + 'a {
        SpecsPage { l, v }
    }
    fn list_partial<'a>(l: &'a Ctx, v: &'a ListView<Spec>) -> impl Template + 'a {
        SpecListPartial { l, v }
    }
    fn form_partial<'a>(
        l: &'a Ctx,
        id: Option<i64>,
        form: &'a SpecForm,
        errors: &'a FieldErrors,
        models: &'a Vec<String>,
    ) -> impl Template + 'a {
        SpecFormPartial {
            l,
            id,
            models,
            form,
            errors,
        }
    }
}
