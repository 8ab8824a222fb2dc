//! Test support: a PostgreSQL database of its own for one test, on the server
//! `THREATGATE_TEST_DATABASE_URL` names, dropped with its handle. The store's contract suite
//! uses one per PostgreSQL test; the black-box tests run on one each when
//! `THREATGATE_TEST_BACKEND=postgres` (`scripts/test.sh` runs them that way a second time).
//!
//! Here rather than in the testkit because creating and dropping a database is SQL, and SQL
//! lives only in the store.

use sqlx::Connection;

/// Which backend the black-box tests of this run use.
pub fn postgres_requested() -> bool {
    std::env::var("THREATGATE_TEST_BACKEND").is_ok_and(|backend| backend == "postgres")
}

/// A fresh database, dropped (with `FORCE`, ending its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `threatgate_test_<random>`; `None` (after saying why) when
    /// `THREATGATE_TEST_DATABASE_URL` is unset. Panics when it is set but unreachable: a test
    /// run that asked for PostgreSQL must not pass without it.
    #[allow(clippy::panic, clippy::expect_used, reason = "test support: a failed setup stops the test")]
    pub async fn create() -> Option<Self> {
        let Ok(server_url) = std::env::var("THREATGATE_TEST_DATABASE_URL") else {
            eprintln!(
                "SKIPPED on PostgreSQL: THREATGATE_TEST_DATABASE_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        };
        let name = format!("threatgate_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server_url).await.unwrap_or_else(|error| {
            panic!("THREATGATE_TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {error}")
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("a test database can be created");
        let mut url = url::Url::parse(&server_url).expect("THREATGATE_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Some(Self { server_url, name, url: url.to_string() })
    }

    /// A fresh database when this run asked for PostgreSQL (`THREATGATE_TEST_BACKEND=postgres`),
    /// else `None`: the test then uses the data directory's SQLite file.
    pub async fn for_this_run() -> Option<Self> {
        if postgres_requested() { Self::create().await } else { None }
    }

    /// Opens it as a store.
    #[allow(clippy::expect_used, reason = "test support: a failed setup stops the test")]
    pub async fn open(&self) -> std::sync::Arc<dyn crate::Store> {
        let settings = crate::PgSettings::default();
        std::sync::Arc::new(crate::PgStore::open(&self.url, &settings).await.expect("the test database opens"))
    }

    /// The database's URL, for `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop may run inside the test's runtime: the drop gets a thread and runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&server_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        });
        if !matches!(dropped.join(), Ok(Some(_))) {
            eprintln!("the test database {} was left behind", self.name);
        }
    }
}
