-- Rendered from hearth/catalog/templates/postgres/bootstrap.sql.j2; run by bootstrap-postgres on every deployment.
-- Idempotent: creates what is missing and resets grants and passwords to the spec.
\set ON_ERROR_STOP on
-- Only the superuser uses the maintenance database.
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;

-- app: a login role owning its database and nothing else.
\set password `cat /run/secrets/app_db_password`
SELECT 'CREATE ROLE app' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app')\gexec
ALTER ROLE app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
\unset password
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')\gexec
ALTER DATABASE app OWNER TO app;
REVOKE ALL ON DATABASE app FROM PUBLIC;
\connect app
ALTER SCHEMA public OWNER TO app;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
\connect postgres
