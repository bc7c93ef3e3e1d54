//! Postgres through Diesel: the pool, the one way to run blocking queries (`run`),
//! embedded migrations, and the error every query returns.

/// The queries the three catalog tables (images, nodes, specs) share: list with search
/// (ILIKE on the generated, trigram-indexed `search` column),
/// 上架 filter, sorting and paging; find; toggle listed; delete (refused by the
/// instances foreign keys while in use). `$id` is the type of the row's id.
macro_rules! catalog_queries {
    ($table:ident, $row:ty, $id:ty, sorts: { $($key:literal => $col:expr),+ $(,)? }) => {
        pub const SORTS: &[&str] = &[$($key),+];

        pub fn list(conn: &mut PgConnection, q: &ListQuery, per_page: i64) -> Result<Page<$row>, DbError> {
            let filtered = || {
                let mut query = $table::table.into_boxed();
                if let Some(pattern) = q.like_pattern() {
                    query = query.filter($table::search.ilike(pattern));
                }
                if let Some(listed) = q.listed {
                    query = query.filter($table::listed.eq(listed));
                }
                query
            };
            let total: i64 = filtered().count().get_result(conn)?;
            let query = match (q.sort, q.desc) {
                $(($key, false) => filtered().order(($col.asc(), $table::id.asc())),
                  ($key, true) => filtered().order(($col.desc(), $table::id.desc())),)+
                _ => filtered().order($table::id.asc()),
            };
            let rows = query.limit(per_page).offset(q.offset(per_page)).select(<$row>::as_select()).load(conn)?;
            Ok(Page { rows, total, page: q.page, per_page })
        }

        pub fn find(conn: &mut PgConnection, id: $id) -> Result<$row, DbError> {
            Ok($table::table.find(id).select(<$row>::as_select()).first(conn)?)
        }

        pub fn set_listed(conn: &mut PgConnection, id: $id, listed: bool) -> Result<(), DbError> {
            let n = diesel::update($table::table.find(id)).set($table::listed.eq(listed)).execute(conn)?;
            $crate::db::found(n)
        }

        pub fn delete(conn: &mut PgConnection, id: $id) -> Result<(), DbError> {
            let n = diesel::delete($table::table.find(id)).execute(conn)?;
            $crate::db::found(n)
        }
    };
}

pub mod audit;
pub mod cleanups;
pub mod companies;
pub mod dashboard;
pub mod ids;
pub mod images;
pub mod instances;
pub mod login_sessions;
pub mod nodes;
pub mod permissions;
pub mod schema;
pub mod sessions;
pub mod specs;
pub mod users;
pub mod zjmf;

use std::time::Duration;

use diesel::PgConnection;
use diesel::r2d2::{ConnectionManager, PoolError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type Pool = diesel::r2d2::Pool<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("row not found")]
    NotFound,
    /// a unique constraint: the name is already taken
    #[error("duplicate value ({0})")]
    Duplicate(String),
    /// a foreign key: the row is still referenced (or references a missing row)
    #[error("row in use ({0})")]
    InUse(String),
    #[error("database error: {0}")]
    Query(DieselError),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::Duplicate(info.constraint_name().unwrap_or_default().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                DbError::InUse(info.constraint_name().unwrap_or_default().to_string())
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => DbError::Unavailable(info.message().to_string()),
            other => DbError::Query(other),
        }
    }
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        DbError::Unavailable(e.to_string())
    }
}

/// An update or delete of one row by id: no row touched means the id does not exist.
pub fn found(rows: usize) -> Result<(), DbError> {
    if rows == 0 {
        Err(DbError::NotFound)
    } else {
        Ok(())
    }
}

/// Builds the pool and checks that the database answers (fails fast at start-up).
pub fn connect(url: &str, size: u32, timeout: Duration) -> Result<Pool, DbError> {
    let manager = ConnectionManager::<PgConnection>::new(url);
    Ok(diesel::r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        // r2d2 logs connection errors itself at error level with the URL's parts; keep quiet.
        .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
        .build(manager)?)
}

pub fn migrate(conn: &mut PgConnection) -> Result<usize, DbError> {
    conn.run_pending_migrations(MIGRATIONS)
        .map(|v| v.len())
        .map_err(|e| DbError::Migration(e.to_string()))
}

/// Runs blocking Diesel code on the blocking thread pool with a pooled connection.
/// The only place that calls `pool.get()`.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Unavailable(format!("blocking task: {e}")))?
}

/// Runs `f` in a transaction (rolled back on error).
pub async fn transaction<T, F>(pool: &Pool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, DbError> + Send + 'static,
{
    transaction_with(pool, f).await
}

/// Runs `f` in a transaction (rolled back on error) whose error is its own: the store's,
/// or a refusal of the rules it checks (`instances::PlaceError`, an `OpsError`).
pub async fn transaction_with<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
{
    use diesel::Connection;
    /// `f`'s error, or the store's when the transaction itself fails (BEGIN, COMMIT)
    enum Failed<E> {
        Own(E),
        Store(DieselError),
    }
    impl<E> From<DieselError> for Failed<E> {
        fn from(e: DieselError) -> Self {
            Failed::Store(e)
        }
    }
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut pooled = pool.get().map_err(DbError::from)?;
        let conn: &mut PgConnection = &mut pooled;
        conn.transaction(|c| f(c).map_err(Failed::Own))
            .map_err(|e| match e {
                Failed::Own(e) => e,
                Failed::Store(e) => DbError::from(e).into(),
            })
    })
    .await
    .map_err(|e| DbError::Unavailable(format!("blocking task: {e}")))?
}
