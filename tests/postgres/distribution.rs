//! The schema as Citus would distribute it by company (SPEC §11), checked on
//! the migrated database: every table is placed exactly once by
//! scripts/citus-distribute.sql; a table distributed by company has a NOT
//! NULL `company_id` that leads its primary key and every index (but a
//! non-unique index the file declares cross-company) and is colocated with
//! `companies`; every unique index of a distributed table
//! contains its distribution column; and every foreign key between
//! distributed tables joins company to company, so it stays on one shard. A
//! new table, index or foreign key that breaks the rule fails here.

use std::collections::BTreeMap;

use sqlx::{Connection, PgConnection};

use crate::helpers::spawn_app;

const DISTRIBUTION: &str = include_str!("../../scripts/citus-distribute.sql");

#[derive(Debug, PartialEq)]
enum Placement {
    Reference,
    Distributed {
        column: String,
        colocate_with: Option<String>,
    },
}

/// The indexes the file declares as serving work across companies
/// (`-- cross-company index: NAME`): exempt from leading with company_id.
fn cross_company_indexes(file: &str) -> Vec<String> {
    file.lines()
        .filter_map(|line| line.trim().strip_prefix("-- cross-company index: "))
        .map(|name| name.trim().to_string())
        .collect()
}

/// Each table's placement, from the `create_*_table` calls of the file.
fn placements(file: &str) -> BTreeMap<String, Placement> {
    let mut placements = BTreeMap::new();
    for line in file.lines().map(str::trim) {
        let Some(call) = line.strip_prefix("SELECT ") else {
            continue;
        };
        let quoted: Vec<&str> = call.split('\'').skip(1).step_by(2).collect();
        let (table, placement) = if call.starts_with("create_reference_table(") {
            (quoted[0], Placement::Reference)
        } else if call.starts_with("create_distributed_table(") {
            let colocate_with = call
                .contains("colocate_with")
                .then(|| quoted[2].to_string());
            let column = quoted[1].to_string();
            (
                quoted[0],
                Placement::Distributed {
                    column,
                    colocate_with,
                },
            )
        } else {
            panic!("scripts/citus-distribute.sql: an unknown call: {line}");
        };
        assert!(
            placements.insert(table.to_string(), placement).is_none(),
            "scripts/citus-distribute.sql places {table} twice"
        );
    }
    placements
}

/// What the rule needs of the database's catalog.
#[derive(Default)]
struct Catalog {
    tables: Vec<String>,
    /// (table, column) → NOT NULL, for every column.
    not_null: BTreeMap<(String, String), bool>,
    indexes: Vec<Index>,
    foreign_keys: Vec<ForeignKey>,
}

struct Index {
    table: String,
    name: String,
    primary: bool,
    unique: bool,
    expression: bool,
    columns: Vec<String>,
}

struct ForeignKey {
    name: String,
    from: String,
    to: String,
    from_columns: Vec<String>,
    to_columns: Vec<String>,
}

async fn catalog(db: &mut PgConnection) -> Catalog {
    let tables = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables
         WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap();
    let not_null = sqlx::query_as::<_, (String, String, bool)>(
        "SELECT c.relname::text, a.attname::text, a.attnotnull
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace s ON s.oid = c.relnamespace
         WHERE s.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap()
    .into_iter()
    .map(|(table, column, not_null)| ((table, column), not_null))
    .collect();
    let indexes = sqlx::query_as::<_, (String, String, bool, bool, bool, Vec<String>)>(
        "SELECT t.relname::text, i.relname::text, ix.indisprimary, ix.indisunique,
                ix.indexprs IS NOT NULL,
                ARRAY(SELECT a.attname::text
                      FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
                      ORDER BY k.n)
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace
         WHERE s.nspname = 'public' AND t.relname <> '_sqlx_migrations' ORDER BY 1, 2",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap()
    .into_iter()
    .map(
        |(table, name, primary, unique, expression, columns)| Index {
            table,
            name,
            primary,
            unique,
            expression,
            columns,
        },
    )
    .collect();
    let foreign_keys = sqlx::query_as::<_, (String, String, String, Vec<String>, Vec<String>)>(
        "SELECT c.conname::text, c.conrelid::regclass::text, c.confrelid::regclass::text,
                ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                      ORDER BY k.n),
                ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                      ORDER BY k.n)
         FROM pg_constraint c JOIN pg_namespace s ON s.oid = c.connamespace
         WHERE c.contype = 'f' AND s.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap()
    .into_iter()
    .map(|(name, from, to, from_columns, to_columns)| ForeignKey {
        name,
        from,
        to,
        from_columns,
        to_columns,
    })
    .collect();
    Catalog {
        tables,
        not_null,
        indexes,
        foreign_keys,
    }
}

/// Every way the catalog breaks distribution by company, one line each.
fn violations(
    placements: &BTreeMap<String, Placement>,
    cross_company: &[String],
    catalog: &Catalog,
) -> Vec<String> {
    let mut broken = Vec::new();
    for table in &catalog.tables {
        if !placements.contains_key(table) {
            broken.push(format!(
                "{table} is not placed by scripts/citus-distribute.sql"
            ));
        }
    }
    let by_company = |table: &str| {
        matches!(placements.get(table),
            Some(Placement::Distributed { column, .. }) if column == "company_id")
    };
    for (table, placement) in placements {
        if !catalog.tables.contains(table) {
            broken.push(format!(
                "scripts/citus-distribute.sql places {table}, which does not exist"
            ));
            continue;
        }
        let Placement::Distributed {
            column,
            colocate_with,
        } = placement
        else {
            continue;
        };
        let key = (table.clone(), column.clone());
        if catalog.not_null.get(&key) != Some(&true) {
            broken.push(format!("{table}.{column} is missing or nullable"));
        }
        if by_company(table)
            && table != "companies"
            && colocate_with.as_deref() != Some("companies")
        {
            broken.push(format!("{table} is not colocated with companies"));
        }
        let indexes: Vec<&Index> = catalog
            .indexes
            .iter()
            .filter(|i| &i.table == table)
            .collect();
        if !indexes.iter().any(|index| index.primary) {
            broken.push(format!("{table} has no primary key"));
        }
        for index in indexes {
            let (name, columns) = (&index.name, index.columns.join(", "));
            let declared = cross_company.contains(name) && !index.unique;
            if index.expression && !declared {
                broken.push(format!("{table}: index {name} is on an expression"));
            } else if by_company(table) && index.columns.first() != Some(column) && !declared {
                broken.push(format!(
                    "{table}: index {name} ({columns}) does not lead with company_id"
                ));
            } else if index.unique && !index.columns.contains(column) {
                broken.push(format!(
                    "{table}: unique index {name} ({columns}) lacks {column}"
                ));
            }
        }
    }
    for key in &catalog.foreign_keys {
        let joins_companies = key
            .from_columns
            .iter()
            .zip(&key.to_columns)
            .any(|(from, to)| from == "company_id" && to == "company_id");
        let local = match placements.get(&key.to) {
            Some(Placement::Reference) => true,
            _ => by_company(&key.from) && by_company(&key.to) && joins_companies,
        };
        if !local {
            broken.push(format!(
                "foreign key {}: {} ({}) → {} ({}) would cross shards",
                key.name,
                key.from,
                key.from_columns.join(", "),
                key.to,
                key.to_columns.join(", ")
            ));
        }
    }
    broken
}

#[tokio::test]
async fn every_table_is_laid_out_for_distribution_by_company() {
    let app = spawn_app().await;
    let mut db = PgConnection::connect(&app.database.url).await.unwrap();
    let catalog = catalog(&mut db).await;
    assert!(catalog.tables.len() >= 15, "tables: {:?}", catalog.tables);
    assert!(catalog.foreign_keys.len() >= 10);
    let broken = violations(
        &placements(DISTRIBUTION),
        &cross_company_indexes(DISTRIBUTION),
        &catalog,
    );
    assert!(
        broken.is_empty(),
        "the schema breaks distribution by company:\n{}",
        broken.join("\n")
    );
}

/// The rule reports what breaks it: an unplaced table, an index not led by
/// company_id, a nullable company_id, and a foreign key that drops it.
#[test]
fn the_rule_names_each_break() {
    let placements = placements(
        "SELECT create_distributed_table('companies', 'company_id');
         SELECT create_distributed_table('sessions', 'company_id', colocate_with => 'companies');",
    );
    let text = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let index = |table: &str, name: &str, primary: bool, columns: &[&str]| Index {
        table: table.to_string(),
        name: name.to_string(),
        primary,
        unique: primary,
        expression: false,
        columns: text(columns),
    };
    let catalog = Catalog {
        tables: text(&["companies", "sessions", "webhooks"]),
        not_null: BTreeMap::from([
            (("companies".to_string(), "company_id".to_string()), true),
            (("sessions".to_string(), "company_id".to_string()), false),
        ]),
        indexes: vec![
            index("companies", "companies_pkey", true, &["company_id"]),
            index(
                "sessions",
                "sessions_pkey",
                true,
                &["company_id", "session_id"],
            ),
            index(
                "sessions",
                "sessions_by_time",
                false,
                &["schedule_ts", "company_id"],
            ),
        ],
        foreign_keys: vec![ForeignKey {
            name: "sessions_host".to_string(),
            from: "sessions".to_string(),
            to: "companies".to_string(),
            from_columns: text(&["host_user_id"]),
            to_columns: text(&["company_id"]),
        }],
    };
    assert_eq!(
        violations(&placements, &[], &catalog),
        vec![
            "webhooks is not placed by scripts/citus-distribute.sql",
            "sessions.company_id is missing or nullable",
            "sessions: index sessions_by_time (schedule_ts, company_id) does not lead with company_id",
            "foreign key sessions_host: sessions (host_user_id) → companies (company_id) would cross shards",
        ]
    );
    assert_eq!(
        self::placements(DISTRIBUTION).get("support_agents"),
        Some(&Placement::Reference)
    );
    assert_eq!(
        cross_company_indexes(DISTRIBUTION),
        ["webhook_deliveries_due", "users_by_lower_email"]
    );
}
