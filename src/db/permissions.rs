//! The api_permissions table: one record per (method, route pattern) with the roles
//! allowed to call it. The gate reads it through ops::permissions::Records (in memory).

use diesel::prelude::*;

use super::DbError;
use super::schema::api_permissions as ap;
use crate::domain::routes;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = ap)]
pub struct Permission {
    pub id: i64,
    pub method: String,
    pub path_pattern: String,
    pub description: String,
    pub allowed_roles: Vec<String>,
}

impl Permission {
    pub fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == role)
    }
    /// The i18n key of what the route does (`route.GET /images`); `description` is the
    /// text for a record the catalogues do not know (one added by hand).
    pub fn description_key(&self) -> String {
        routes::description_key(&self.method, &self.path_pattern)
    }
}

pub fn all(conn: &mut PgConnection) -> Result<Vec<Permission>, DbError> {
    Ok(ap::table
        .order((ap::path_pattern, ap::method))
        .select(Permission::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Permission, DbError> {
    Ok(ap::table
        .find(id)
        .select(Permission::as_select())
        .first(conn)?)
}

pub fn set_roles(
    conn: &mut PgConnection,
    id: i64,
    roles: &[String],
) -> Result<Permission, DbError> {
    Ok(diesel::update(ap::table.find(id))
        .set(ap::allowed_roles.eq(roles))
        .returning(Permission::as_returning())
        .get_result(conn)?)
}
