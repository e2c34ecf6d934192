-- podint-collector schema, version 3: a report whose packet passed no
-- probed ingress port (a copy the bridge flooded, a packet the node sent
-- without a CPU port) has no hop latency; its sample stores NULL, never a
-- measured-looking 0.
ALTER TABLE report_samples ALTER COLUMN hop_latency_ns DROP NOT NULL;
