"""The wire: how auctions reach keeper processes and how their actions come back (see PROTOCOL.md).

- ``broker.messages``: msgspec Structs of every message, ``encode`` / ``decode``;
- ``broker.topics``: the ``liq/v1/...`` topic tree and its QoS / retain ``POLICY``;
- ``broker.signing``: Ed25519 keys, canonical bytes, the ``Verifier`` the house runs on every action;
- ``broker.bus``: the async ``Bus`` interface, the in-memory transport and ``connect(url, ...)``;
- ``broker.mqtt_bus``: the MQTT transport (aiomqtt): its client (``broker.mqtt_client``), its window of
  outstanding publishes (``broker.mqtt_outbox``) and its dropping of repeated events (``broker.mqtt_dedupe``);
- ``broker.server``: start Mosquitto or the embedded amqtt broker (``liqnet broker``, tests);
- ``broker.broker_config``: their ``Limits``, Mosquitto's configuration, secure mode's password and ACL files;
- ``broker.child_process``: child processes tied to this one (``popen_tied``), whoever starts them;
- ``auction.net.protocol_doc``: regenerates the generated parts of PROTOCOL.md.
"""
