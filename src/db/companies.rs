//! The companies (tenants) table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{companies, users};
use super::{DbError, found};
use crate::domain::accounts::CompanyFields;
use crate::domain::ids::CompanyId;
use crate::domain::listing::{Page, like_pattern};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = companies)]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    pub remark: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = companies)]
struct CompanyRow<'a> {
    name: &'a str,
    remark: &'a str,
}

impl<'a> From<&'a CompanyFields> for CompanyRow<'a> {
    fn from(f: &'a CompanyFields) -> Self {
        CompanyRow {
            name: &f.name,
            remark: &f.remark,
        }
    }
}

pub struct CompanyListRow {
    pub company: Company,
    pub members: i64,
}

pub fn find(conn: &mut PgConnection, id: CompanyId) -> Result<Company, DbError> {
    Ok(companies::table
        .find(id)
        .select(Company::as_select())
        .first(conn)?)
}

pub fn all(conn: &mut PgConnection) -> Result<Vec<Company>, DbError> {
    Ok(companies::table
        .order(companies::name)
        .select(Company::as_select())
        .load(conn)?)
}

pub fn insert(conn: &mut PgConnection, f: &CompanyFields) -> Result<Company, DbError> {
    Ok(diesel::insert_into(companies::table)
        .values(CompanyRow::from(f))
        .returning(Company::as_returning())
        .get_result(conn)?)
}

pub fn update(conn: &mut PgConnection, id: CompanyId, f: &CompanyFields) -> Result<(), DbError> {
    let n = diesel::update(companies::table.find(id))
        .set(CompanyRow::from(f))
        .execute(conn)?;
    found(n)
}

/// Refused by the foreign keys (DbError::InUse) while users or instances belong to it.
pub fn delete(conn: &mut PgConnection, id: CompanyId) -> Result<(), DbError> {
    let n = diesel::delete(companies::table.find(id)).execute(conn)?;
    found(n)
}

pub fn list(
    conn: &mut PgConnection,
    q: &str,
    page: i64,
    per_page: i64,
) -> Result<Page<CompanyListRow>, DbError> {
    let filtered = || {
        let mut query = companies::table.into_boxed();
        if !q.is_empty() {
            query = query.filter(companies::name.ilike(like_pattern(q)));
        }
        query
    };
    let total = filtered().count().get_result(conn)?;
    let members = users::table
        .filter(users::company_id.eq(companies::id.nullable()))
        .count()
        .single_value()
        .assume_not_null();
    let rows = filtered()
        .order(companies::name)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .select((Company::as_select(), members))
        .load::<(Company, i64)>(conn)?
        .into_iter()
        .map(|(company, members)| CompanyListRow { company, members })
        .collect();
    Ok(Page {
        rows,
        total,
        page,
        per_page,
    })
}
