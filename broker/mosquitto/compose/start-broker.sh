#!/bin/sh
# Entry point of the compose broker: write the password file from the environment, then run Mosquitto.
# mosquitto_passwd hashes each password (PBKDF2-SHA512); the file never leaves the container.
set -eu
mkdir -p /tmp/liqnet
rm -f /tmp/liqnet/passwords
mosquitto_passwd -c -b /tmp/liqnet/passwords house "${LIQNET_HOUSE_PASSWORD:?set LIQNET_HOUSE_PASSWORD}"
mosquitto_passwd -b /tmp/liqnet/passwords keeper "${LIQNET_KEEPER_PASSWORD:?set LIQNET_KEEPER_PASSWORD}"
mosquitto_passwd -b /tmp/liqnet/passwords monitor "${LIQNET_MONITOR_PASSWORD:?set LIQNET_MONITOR_PASSWORD}"
chown -R mosquitto:mosquitto /tmp/liqnet 2>/dev/null || true
chmod 0700 /tmp/liqnet
chmod 0600 /tmp/liqnet/passwords
exec mosquitto -c /liqnet/mosquitto.conf
