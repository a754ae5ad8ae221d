-- webhook.lua: tell another system when a call ends.
--
-- on_event runs off the call path (a queue, scripts.event_timeout_ms per
-- event). With scripts.events: integration (the default) it hears only
-- calls whose deciding rule has integration: true; "all" sends every call.
-- The URL: here, or pbx.kv_set("webhook_url", "http://...").
WEBHOOK_URL = "http://127.0.0.1:8089/hooks/call-end"
WEBHOOK_TIMEOUT_MS = 1000

function on_event(ev)
  if ev.type ~= "call.end" then return end
  local payload = {
    event = ev.type,
    call_id = ev.call_id,
    time = ev.time_iso,
    data = ev.data,          -- from, to, duration, ... as the engine sends them
  }
  local res, err = http.request{
    method = "POST",
    url = pbx.kv_get("webhook_url") or WEBHOOK_URL,
    headers = {["Content-Type"] = "application/json"},
    body = json.encode(payload),
    timeout_ms = WEBHOOK_TIMEOUT_MS,
  }
  if not res or res.status >= 300 then
    pbx.log("debug", "webhook failed:", err or res.status)
  end
end
