//! The images (镜像库) table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::images;
use super::{DbError, found};
use crate::domain::catalog::NewImage;
use crate::domain::listing::{ListQuery, Page};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = images)]
pub struct Image {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub description: String,
    pub source: String,
    pub listed: bool,
    pub remark: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = images)]
struct ImageRow<'a> {
    name: &'a str,
    address: &'a str,
    description: &'a str,
    source: &'a str,
    listed: bool,
    remark: &'a str,
}

impl<'a> From<&'a NewImage> for ImageRow<'a> {
    fn from(v: &'a NewImage) -> Self {
        ImageRow {
            name: &v.name,
            address: &v.address,
            description: &v.description,
            source: &v.source,
            listed: v.listed,
            remark: &v.remark,
        }
    }
}

catalog_queries!(images, Image, i64,
    sorts: { "name" => images::name, "address" => images::address, "created_at" => images::created_at });

pub fn insert(conn: &mut PgConnection, v: &NewImage) -> Result<Image, DbError> {
    Ok(diesel::insert_into(images::table)
        .values(ImageRow::from(v))
        .returning(Image::as_returning())
        .get_result(conn)?)
}

pub fn update(conn: &mut PgConnection, id: i64, v: &NewImage) -> Result<(), DbError> {
    let n = diesel::update(images::table.find(id))
        .set(ImageRow::from(v))
        .execute(conn)?;
    found(n)
}
