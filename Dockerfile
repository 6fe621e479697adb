# The netflow image: the official Airflow image with the netflow package, its DAGs, plugin and
# email templates. Every Airflow container of docker-compose.yml runs it, and so can the official
# Helm chart (docs/deployment.md).
#
#   docker build -t netflow-airflow:0.1.0 .      (or: docker compose build)
#
# The Airflow version lives in three places that must agree: this FROM line, apache-airflow in
# pyproject.toml's [airflow] extra, and requirements.lock (tests/deploy/test_compose.py checks).
FROM apache/airflow:3.3.2-python3.11

# Folders the image's airflow user (uid 50000, group 0) owns: the email templates, the simple auth
# manager's password file (written by airflow-init) and the inbox. Named volumes mounted on the last
# two start with this ownership. Group-writable, as the official image expects for arbitrary uids.
USER root
RUN mkdir -p /opt/netflow/src /opt/netflow/templates /opt/netflow/auth /opt/airflow/inbox \
 && chown -R airflow:root /opt/netflow /opt/airflow/inbox \
 && chmod -R g+rwX /opt/netflow /opt/airflow/inbox

# pip runs as airflow (the image refuses root) and installs into ~airflow/.local. requirements.lock
# is a constraints file: every package netflow brings in gets the tested version, and naming
# apache-airflow==$AIRFLOW_VERSION (set by the base image) makes a conflict an error instead of a
# silent upgrade or downgrade of Airflow. The source is removed once installed (non-editable).
USER airflow
COPY --chown=airflow:root pyproject.toml requirements.lock README.md /opt/netflow/src/
COPY --chown=airflow:root netflow/ /opt/netflow/src/netflow/
COPY --chown=airflow:root netflow_airflow/ /opt/netflow/src/netflow_airflow/
RUN pip install --no-cache-dir -c /opt/netflow/src/requirements.lock \
        "apache-airflow==${AIRFLOW_VERSION}" "/opt/netflow/src[airflow,celery]" \
 && rm -rf /opt/netflow/src

COPY --chown=airflow:root templates/ /opt/netflow/templates/
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/

# With a non-editable install netflow.config.PROJECT_ROOT is site-packages, so the templates and the
# inbox are named explicitly. docker-compose.yml mounts the netflow-inbox volume on NETFLOW_INBOX.
ENV NETFLOW_TEMPLATES_DIR=/opt/netflow/templates \
    NETFLOW_INBOX=/opt/airflow/inbox

# Fail the build, not the first run: the command works, the Airflow seam imports, the templates are found.
RUN netflow --version \
 && python -c "import netflow_airflow; from netflow.config import Settings; \
from netflow.adapters.rendering import environment; \
environment(Settings.from_env().templates_dir).get_template('email/digest.txt')"
