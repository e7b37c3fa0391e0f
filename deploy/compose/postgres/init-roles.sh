#!/bin/sh
# Run once by the postgres image when its volume is new (/docker-entrypoint-initdb.d/): one role and one database
# per service, each role owning its database, its password from the secret /run/secrets/postgres-roles/<service>
# (made by `rls deploy secrets`, the same one written in that service's event store URL).
set -eu
roles_dir="${RLS_POSTGRES_ROLES_DIR:-/run/secrets/postgres-roles}"
for file in "$roles_dir"/*; do
  [ -f "$file" ] || continue
  role="${file##*/}"
  password="$(cat "$file")"
  psql --no-psqlrc --set=ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set=role="$role" --set=password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
