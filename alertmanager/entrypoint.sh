#!/bin/sh
# Alertmanager reads no environment variables: this renders ${VAR} / ${VAR:-default} in its config from the
# environment (values are written inside the template's single quotes, ' doubled), then starts it.
#
#   entrypoint.sh [alertmanager flags...]   render $AM_CONFIG_TEMPLATE to $AM_CONFIG, exec $ALERTMANAGER_BIN on it
#   entrypoint.sh render TEMPLATE OUTPUT    render only (for `amtool check-config` and tests)
#
# SLACK_WEBHOOK_URL, when set, is written to a file next to the rendered config (mode 600) and used as
# SLACK_WEBHOOK_URL_FILE, so the secret never appears in the rendered config. POSIX sh + awk (busybox works).
set -eu

render() {
  # the rendered config holds the SMTP password: readable by this user only (Alertmanager runs as it)
  (umask 077 && awk '
  {
    line = $0; out = ""
    while (match(line, /\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}/)) {
      expr = substr(line, RSTART + 2, RLENGTH - 3)
      i = index(expr, ":-")
      if (i > 0) { name = substr(expr, 1, i - 1); value = substr(expr, i + 2) } else { name = expr; value = "" }
      if ((name in ENVIRON) && ENVIRON[name] != "") value = ENVIRON[name]
      gsub(/\047/, "\047\047", value)
      out = out substr(line, 1, RSTART - 1) value
      line = substr(line, RSTART + RLENGTH)
    }
    print out line
  }' "$1" > "$2")
  chmod 600 "$2"
}

slack_url_file() {
  if [ -n "${SLACK_WEBHOOK_URL:-}" ]; then
    file="$(dirname "$1")/slack_webhook_url"
    (umask 077 && printf '%s' "$SLACK_WEBHOOK_URL" > "$file")
    SLACK_WEBHOOK_URL_FILE="$file"
    export SLACK_WEBHOOK_URL_FILE
  fi
}

if [ "${1:-}" = "render" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 render TEMPLATE OUTPUT" >&2; exit 2; }
  mkdir -p "$(dirname "$3")"
  slack_url_file "$3"
  render "$2" "$3"
  exit 0
fi

template="${AM_CONFIG_TEMPLATE:-/etc/alertmanager/alertmanager.yml}"
rendered="${AM_CONFIG:-/tmp/alertmanager/alertmanager.yml}"
mkdir -p "$(dirname "$rendered")"
slack_url_file "$rendered"
render "$template" "$rendered"
exec "${ALERTMANAGER_BIN:-alertmanager}" --config.file="$rendered" "$@"
