"""The dbt project the image build packages: `dagster-dbt project prepare-and-package --file
deploy/dbt_package.py` parses it for the prod target, so the code server starts without dbt parse."""

from p3_dagster.lib.dbt import dbt_project

prod_project = dbt_project("prod")
