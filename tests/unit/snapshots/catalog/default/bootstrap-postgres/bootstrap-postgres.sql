-- Rendered from hearth/catalog/templates/postgres/bootstrap.sql.j2; run by bootstrap-postgres on every deployment.
-- Idempotent: creates what is missing and resets grants and passwords to the spec.
\set ON_ERROR_STOP on
-- Only the superuser uses the maintenance database, and the exporter's role reads there.
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

-- monitor: the metrics exporter's login role. pg_monitor reads the statistics and
-- changes nothing; no database of its own, CONNECT on this one.
\set password `cat /run/secrets/postgres_monitor_password`
SELECT 'CREATE ROLE monitor' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitor')\gexec
ALTER ROLE monitor WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
\unset password
-- Granted again on every run: no NOTICE saying so.
SET client_min_messages = warning;
GRANT pg_monitor TO monitor;
GRANT CONNECT ON DATABASE postgres TO monitor;
-- The container's memory as its cgroup counts it (v2, or v1's memory controller) less the
-- file cache the kernel can drop: what the memory limit holds against PostgreSQL. Reading
-- files takes the superuser: this function runs as its owner and reads these files only.
CREATE SCHEMA IF NOT EXISTS hearth;
REVOKE ALL ON SCHEMA hearth FROM PUBLIC;
GRANT USAGE ON SCHEMA hearth TO monitor;
CREATE OR REPLACE FUNCTION hearth.memory_working_set_bytes() RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  usage text := coalesce(pg_read_file('/sys/fs/cgroup/memory.current', true),
                         pg_read_file('/sys/fs/cgroup/memory/memory.usage_in_bytes', true));
  stat text := coalesce(pg_read_file('/sys/fs/cgroup/memory.stat', true),
                        pg_read_file('/sys/fs/cgroup/memory/memory.stat', true));
BEGIN
  RETURN btrim(usage, E' \n')::bigint
    - coalesce(substring(stat from '(?n)^inactive_file (\d+)$')::bigint, 0);
END
$$;
REVOKE ALL ON FUNCTION hearth.memory_working_set_bytes() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hearth.memory_working_set_bytes() TO monitor;
