#!/bin/bash
# The Kafka container of docker-compose.yml with SASL on every listener (see docs/security.md).
#
# The apache/kafka image builds server.properties from the KAFKA_* variables and formats the
# storage, but cannot create SCRAM users at format time. This wrapper, before handing over to
# the image's own start script:
#   1. refuses to start without the three passwords (from .env, never in the repository);
#   2. exports the JAAS settings of the listeners, built from them (not written in the file);
#   3. on the first start, formats the storage with the admin's and the broker's SCRAM users,
#      the arguments in a Java argument file (0600, removed) rather than on a command line;
#   4. writes the admin's client settings for the healthcheck (0600).
# The other principals are created by the `kafka-access` service (`baocao kafka-access`).
set -euo pipefail
umask 077

for name in SCRAM_ADMIN_PASSWORD SCRAM_BROKER_PASSWORD CONTROLLER_PASSWORD; do
  value="${!name:-}"
  if [[ -z "$value" ]]; then
    echo "error: $name is empty; set it in .env (e.g. openssl rand -hex 24)" >&2
    exit 1
  fi
  if [[ ! "$value" =~ ^[A-Za-z0-9]+$ ]]; then
    echo "error: $name must be letters and digits only (it goes into a JAAS string)" >&2
    exit 1
  fi
done

scram="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"${SCRAM_BROKER_PASSWORD}\";"
plain="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"controller\" password=\"${CONTROLLER_PASSWORD}\" user_controller=\"${CONTROLLER_PASSWORD}\";"
export KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___256_SASL_JAAS_CONFIG="$scram"
export KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG="$scram"
export KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___256_SASL_JAAS_CONFIG="$scram"
export KAFKA_LISTENER_NAME_HOST_SCRAM___SHA___512_SASL_JAAS_CONFIG="$scram"
export KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG="$plain"

data="${KAFKA_LOG_DIRS%%,*}"
if [[ ! -f "$data/meta.properties" ]]; then
  work="$(mktemp -d)"
  cat > "$work/format.properties" <<PROPERTIES
process.roles=${KAFKA_PROCESS_ROLES}
node.id=${KAFKA_NODE_ID}
controller.quorum.voters=${KAFKA_CONTROLLER_QUORUM_VOTERS}
controller.listener.names=${KAFKA_CONTROLLER_LISTENER_NAMES}
listeners=${KAFKA_LISTENERS}
listener.security.protocol.map=${KAFKA_LISTENER_SECURITY_PROTOCOL_MAP}
inter.broker.listener.name=${KAFKA_INTER_BROKER_LISTENER_NAME}
log.dirs=${KAFKA_LOG_DIRS}
PROPERTIES
  {
    echo "kafka.tools.StorageTool"
    echo "format"
    echo "--cluster-id"
    echo "${CLUSTER_ID}"
    echo "--config"
    echo "$work/format.properties"
    echo "--add-scram"
    echo "\"SCRAM-SHA-256=[name=admin,password=${SCRAM_ADMIN_PASSWORD}]\""
    echo "--add-scram"
    echo "\"SCRAM-SHA-256=[name=broker,password=${SCRAM_BROKER_PASSWORD}]\""
  } > "$work/format.args"
  java -cp "/opt/kafka/libs/*" "@$work/format.args"
  rm -rf "$work"
fi

cat > /tmp/admin-client.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${SCRAM_ADMIN_PASSWORD}";
PROPERTIES

# The image's start script: server.properties from KAFKA_*, its own format step finds the
# storage formatted, then the broker.
exec /etc/kafka/docker/run
