//! The specs (产品规格) table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::specs;
use super::{DbError, found};
use crate::domain::catalog::NewSpec;
use crate::domain::listing::{ListQuery, Page};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = specs)]
pub struct Spec {
    pub id: i64,
    pub name: String,
    pub gpu_model: String,
    pub gpu_count: i32,
    pub cpu_cores: i32,
    pub memory_gb: i32,
    pub system_disk_gb: i32,
    pub data_disk_gb: i32,
    pub price_per_hour_cents: i64,
    pub listed: bool,
    pub remark: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = specs)]
struct SpecRow<'a> {
    name: &'a str,
    gpu_model: &'a str,
    gpu_count: i32,
    cpu_cores: i32,
    memory_gb: i32,
    system_disk_gb: i32,
    data_disk_gb: i32,
    price_per_hour_cents: i64,
    listed: bool,
    remark: &'a str,
}

impl<'a> From<&'a NewSpec> for SpecRow<'a> {
    fn from(v: &'a NewSpec) -> Self {
        SpecRow {
            name: &v.name,
            gpu_model: &v.gpu_model,
            gpu_count: v.gpu_count,
            cpu_cores: v.cpu_cores,
            memory_gb: v.memory_gb,
            system_disk_gb: v.system_disk_gb,
            data_disk_gb: v.data_disk_gb,
            price_per_hour_cents: v.price_per_hour_cents,
            listed: v.listed,
            remark: &v.remark,
        }
    }
}

catalog_queries!(specs, Spec, i64,
    sorts: { "name" => specs::name, "gpu_model" => specs::gpu_model, "price" => specs::price_per_hour_cents,
             "created_at" => specs::created_at });

pub fn insert(conn: &mut PgConnection, v: &NewSpec) -> Result<Spec, DbError> {
    Ok(diesel::insert_into(specs::table)
        .values(SpecRow::from(v))
        .returning(Spec::as_returning())
        .get_result(conn)?)
}

pub fn update(conn: &mut PgConnection, id: i64, v: &NewSpec) -> Result<(), DbError> {
    let n = diesel::update(specs::table.find(id))
        .set(SpecRow::from(v))
        .execute(conn)?;
    found(n)
}

impl Spec {
    /// What an instance of this spec holds on its node.
    pub fn resources(&self) -> crate::domain::instances::Resources {
        crate::domain::instances::Resources {
            gpu_count: self.gpu_count,
            cpu_cores: self.cpu_cores,
            memory_gb: self.memory_gb,
            system_disk_gb: self.system_disk_gb,
            data_disk_gb: self.data_disk_gb,
        }
    }

    /// The price per hour as "12.50".
    pub fn price(&self) -> String {
        crate::domain::fields::format_cents(self.price_per_hour_cents)
    }
}
