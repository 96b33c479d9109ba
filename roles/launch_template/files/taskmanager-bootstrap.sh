#!/usr/bin/env bash
# Install and start the task manager web app on an Amazon Linux 2023 instance.
# Run once by cloud-init (runcmd). Settings come from /etc/taskmanager/bootstrap.env,
# written by the same cloud-config; secrets are read here from SSM Parameter Store
# through the instance role and never printed.
set -euo pipefail

conf_dir=/etc/taskmanager
# shellcheck source=/dev/null
. "${conf_dir}/bootstrap.env"
: "${TASKMANAGER_REGION:?}" "${TASKMANAGER_BUCKET:?}" "${TASKMANAGER_WHEEL_KEY:?}"
: "${TASKMANAGER_ROOT:?}" "${TASKMANAGER_PACKAGE:?}" "${TASKMANAGER_SERVICE:?}"

venv="${TASKMANAGER_ROOT}/venv"
dist="${TASKMANAGER_ROOT}/dist"
env_file="${conf_dir}/taskmanager.env"
data_dir="${TASKMANAGER_DATA_DIR:-/var/lib/taskmanager}"

log() { printf 'taskmanager-bootstrap: %s\n' "$*"; }

# A system user for gunicorn, and its directories
if ! id -u taskmanager >/dev/null 2>&1; then
  useradd --system --home-dir "${TASKMANAGER_ROOT}" --shell /sbin/nologin taskmanager
fi
install -d -m 0755 "${TASKMANAGER_ROOT}" "${dist}"
install -d -m 0750 -o taskmanager -g taskmanager "${data_dir}"

# The web app: wheel from the artifact bucket into a virtualenv
log "installing s3://${TASKMANAGER_BUCKET}/${TASKMANAGER_WHEEL_KEY}"
wheel="${dist}/$(basename "${TASKMANAGER_WHEEL_KEY}")"
aws --region "${TASKMANAGER_REGION}" s3 cp --only-show-errors \
  "s3://${TASKMANAGER_BUCKET}/${TASKMANAGER_WHEEL_KEY}" "${wheel}"
if [[ ! -x "${venv}/bin/python" ]]; then
  python3 -m venv "${venv}"
fi
"${venv}/bin/pip" install --quiet --upgrade pip
"${venv}/bin/pip" install --quiet --upgrade "${wheel}"

# EnvironmentFile: plain settings, then secrets from SSM Parameter Store (names only in user data)
umask 077
tmp_env=$(mktemp)
trap 'rm -f "${tmp_env}"' EXIT
cat "${conf_dir}/environment" >"${tmp_env}"
while IFS='=' read -r name parameter; do
  [[ -z "${name}" || "${name}" == \#* ]] && continue
  if value=$(aws --region "${TASKMANAGER_REGION}" ssm get-parameter --with-decryption \
    --name "${parameter}" --query Parameter.Value --output text 2>/dev/null); then
    printf '%s=%s\n' "${name}" "${value}" >>"${tmp_env}"
    log "read ${name} from SSM parameter ${parameter}"
  else
    # The app cannot run without its secrets: fail the boot (the instance never turns healthy,
    # and the Auto Scaling group replaces it) instead of starting half configured.
    log "ERROR: cannot read SSM parameter ${parameter} for ${name}; not starting the web app"
    exit 1
  fi
done <"${conf_dir}/secret-parameters"
install -m 0640 -o root -g taskmanager "${tmp_env}" "${env_file}"
umask 022

# gunicorn under systemd, nginx in front: the deploy files ship inside the package
deploy_dir=$("${venv}/bin/python" -c \
  'import importlib.resources as r, sys; print(r.files(sys.argv[1]) / "deploy")' "${TASKMANAGER_PACKAGE}")
install -m 0644 "${deploy_dir}/${TASKMANAGER_SERVICE}.service" "/etc/systemd/system/${TASKMANAGER_SERVICE}.service"
install -m 0644 "${deploy_dir}/gunicorn.conf.py" "${conf_dir}/gunicorn.conf.py"
install -m 0644 "${deploy_dir}/nginx-${TASKMANAGER_SERVICE}.conf" "/etc/nginx/conf.d/${TASKMANAGER_SERVICE}.conf"
mkdir -p /var/lib/nginx # parent of the site's /instance micro-cache (nginx creates the cache folder)
nginx -t
systemctl daemon-reload
systemctl enable --now "${TASKMANAGER_SERVICE}.service"
systemctl enable nginx.service
systemctl restart nginx.service
log "done"
