//! 镜像库 images: templates and ops for the shared catalog handlers.

use askama::Template;

use super::catalog::{CatalogPage, ListView};
use crate::domain::catalog::{Catalog, ImageForm, NewImage};
use crate::domain::fields::FieldErrors;
use crate::domain::listing::{ListQuery, Page};
use crate::ops::Context;
use crate::ops::views::{IMAGE_SORTS, Image};
use crate::ops::{self, OpsError};
use crate::web::extract::Ctx;

pub struct Images;

#[derive(Template)]
#[template(path = "images/index.html")]
struct ImagesPage<'a> {
    l: &'a Ctx,
    v: &'a ListView<Image>,
}

#[derive(Template)]
#[template(path = "images/_list.html")]
struct ImageListPartial<'a> {
    l: &'a Ctx,
    v: &'a ListView<Image>,
}

#[derive(Template)]
#[template(path = "images/_form.html")]
struct ImageFormPartial<'a> {
    l: &'a Ctx,
    id: Option<i64>,
    form: &'a ImageForm,
    errors: &'a FieldErrors,
}

impl CatalogPage for Images {
    const KIND: Catalog = Catalog::Images;
    const SORTS: &'static [&'static str] = IMAGE_SORTS;
    type Row = Image;
    type Form = ImageForm;
    type Extras = ();

    async fn list(st: &Context, q: ListQuery) -> Result<Page<Image>, OpsError> {
        ops::catalog::list_images(st, q).await
    }

    async fn extras(_st: &Context) -> Result<(), OpsError> {
        Ok(())
    }

    fn blank_form() -> ImageForm {
        ImageForm {
            listed: Some("on".into()),
            ..ImageForm::default()
        }
    }

    async fn load_form(st: &Context, id: i64) -> Result<ImageForm, OpsError> {
        let i = ops::catalog::image(st, id).await?;
        Ok(ImageForm {
            name: i.name,
            address: i.address,
            description: i.description,
            source: i.source,
            listed: i.listed.then(|| "on".into()),
            remark: i.remark,
        })
    }

    async fn save(st: &Context, id: Option<i64>, form: &ImageForm) -> Result<(), OpsError> {
        ops::catalog::save_image(st, id, NewImage::parse(form)?).await
    }

    fn list_page<'a>(l: &'a Ctx, v: &'a ListView<Image>) -> impl Template + 'a {
        ImagesPage { l, v }
    }
    fn list_partial<'a>(l: &'a Ctx, v: &'a ListView<Image>) -> impl Template + 'a {
        ImageListPartial { l, v }
    }
    fn form_partial<'a>(
        l: &'a Ctx,
        id: Option<i64>,
        form: &'a ImageForm,
        errors: &'a FieldErrors,
        _extras: &'a (),
    ) -> impl Template + 'a {
        ImageFormPartial {
            l,
            id,
            form,
            errors,
        }
    }
}
