-- The patient database, next to Airflow's metadata database on the compose file's one PostgreSQL server.
--
-- The postgres image runs this file once, when its data volume is first created, as POSTGRES_USER
-- (airflow, a superuser) connected to POSTGRES_DB (airflow, the metadata database). It creates the
-- role and the database that NETFLOW_DATABASE_URL and AIRFLOW_CONN_NETFLOW_DB point at; airflow-init
-- then creates the tables with `netflow db upgrade`.
--
-- The password comes from the container's environment (PATIENT_DB_PASSWORD, from .env) through
-- psql's \getenv (PostgreSQL 15 or later), so no secret is written here. Changing PATIENT_DB_PASSWORD
-- in .env later does not change the role's password: see docs/deployment.md.

\set ON_ERROR_STOP on
\getenv patient_db_password PATIENT_DB_PASSWORD

CREATE ROLE netflow LOGIN PASSWORD :'patient_db_password';
CREATE DATABASE netflow OWNER netflow ENCODING 'UTF8';

-- Only the owner (and superusers) may connect to the patient database.
REVOKE ALL ON DATABASE netflow FROM PUBLIC;
