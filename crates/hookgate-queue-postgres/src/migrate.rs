//! The schema's versioned migrations, embedded in the crate and applied
//! under an advisory lock.

use deadpool_postgres::GenericClient;
use hookgate_queue::QueueError;

use crate::error::map_pg;

/// One step of the queue schema's history, applied once per schema.
///
/// The steps are embedded in the crate; [`PostgresQueue::migrate`](crate::PostgresQueue::migrate)
/// applies those a schema has not had yet, in order, each recorded in
/// `<schema>.schema_migrations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migration {
    /// Its number: 1, 2, …, applied in this order.
    pub version: u32,
    /// What it does, in a few words.
    pub name: &'static str,
    /// The SQL, run with `search_path` set to the queue's schema.
    pub sql: &'static str,
}

/// Every migration this version of the crate knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "deliveries, seen keys, ready notifications",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// The versions recorded in `schema`, or none when the schema (or its
/// migrations table) does not exist yet.
async fn applied(client: &impl GenericClient, schema: &str) -> Result<Vec<u32>, QueueError> {
    let quoted = quote(schema);
    let exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{quoted}.schema_migrations")],
        )
        .await
        .map_err(map_pg)?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!("SELECT version FROM {quoted}.schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .map_err(map_pg)?;
    Ok(rows
        .iter()
        .map(|row| u32::try_from(row.get::<_, i32>(0)).unwrap_or(u32::MAX))
        .collect())
}

/// The migrations `schema` still needs; an error when it has versions this
/// crate does not know (a newer hookgate migrated it).
pub(crate) async fn pending(
    client: &impl GenericClient,
    schema: &str,
) -> Result<Vec<Migration>, QueueError> {
    let done = applied(client, schema).await?;
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if let Some(newer) = done.iter().find(|v| **v > known) {
        return Err(QueueError::invalid(format!(
            "postgres schema {schema} is at version {newer}, newer than this hookgate knows \
             ({known}): upgrade hookgate"
        )));
    }
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !done.contains(&m.version))
        .copied()
        .collect())
}

/// Applies what `schema` is missing, in one transaction holding an advisory
/// lock, so that receivers starting together apply each migration once (the
/// others wait, then find nothing to do). Returns what was applied.
pub(crate) async fn migrate(
    client: &mut deadpool_postgres::Object,
    schema: &str,
) -> Result<Vec<Migration>, QueueError> {
    let quoted = quote(schema);
    let tx = client.transaction().await.map_err(map_pg)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("hookgate migrate {schema}")],
    )
    .await
    .map_err(map_pg)?;
    // Checked rather than `IF NOT EXISTS`: an existing schema needs no CREATE
    // privilege on the database, and no NOTICE lands in the logs.
    let schema_exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(map_pg)?
        .get(0);
    if !schema_exists {
        tx.batch_execute(&format!("CREATE SCHEMA {quoted}"))
            .await
            .map_err(map_pg)?;
    }
    let table_exists: bool = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{quoted}.schema_migrations")],
        )
        .await
        .map_err(map_pg)?
        .get(0);
    if !table_exists {
        tx.batch_execute(&format!(
            "CREATE TABLE {quoted}.schema_migrations (
                 version    integer     PRIMARY KEY,
                 name       text        NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))
        .await
        .map_err(map_pg)?;
    }
    let todo = pending(&tx, schema).await?;
    for migration in &todo {
        tx.batch_execute(&format!(
            "SET LOCAL search_path TO {quoted};\n{}",
            migration.sql
        ))
        .await
        .map_err(map_pg)?;
        tx.execute(
            &format!("INSERT INTO {quoted}.schema_migrations (version, name) VALUES ($1, $2)"),
            &[
                &i32::try_from(migration.version).unwrap_or(i32::MAX),
                &migration.name,
            ],
        )
        .await
        .map_err(map_pg)?;
    }
    tx.commit().await.map_err(map_pg)?;
    for migration in &todo {
        tracing::info!(
            schema,
            version = migration.version,
            name = migration.name,
            "applied queue schema migration"
        );
    }
    Ok(todo)
}

/// `schema` as a quoted identifier (schema names are checked to need no escaping).
pub(crate) fn quote(schema: &str) -> String {
    format!("\"{schema}\"")
}

/// Schema names are plain lowercase identifiers, short enough that
/// `<schema>.ready` is a valid notification channel (63 bytes at most).
pub(crate) fn check_schema_name(schema: &str) -> Result<(), QueueError> {
    let mut chars = schema.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain || schema.len() > 48 || schema.starts_with("pg_") {
        return Err(QueueError::invalid(format!(
            "postgres schema name {schema:?}: use 1 to 48 lowercase letters, digits and \
             underscores, starting with a letter or underscore, not `pg_`"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, i + 1);
        }
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["hookgate", "_q1", "orders_queue"] {
            check_schema_name(good).unwrap();
        }
        for bad in ["", "Hookgate", "1q", "a-b", "a\"b", "pg_q", &"q".repeat(49)] {
            let err = check_schema_name(bad).unwrap_err();
            assert!(err.to_string().contains("postgres schema name"), "{err}");
        }
    }
}
