-- First start of the compose PostgreSQL: POSTGRES_DB creates `dagster` (the Dagster instance and
-- the API keys); the MLflow server keeps its tracking store in its own database.
create database mlflow;
