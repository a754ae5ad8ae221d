-- offhours.lua: outside office hours, forward to whoever is on call.
--
-- The on-call number is kept in the kv store under "oncall" (shared by all
-- calls, kept across reloads). It is fetched from ONCALL_URL, which answers
-- 200 {"number": "3471234567"}, and cached for ONCALL_CACHE_SECONDS. Any
-- other script may also set it: pbx.kv_set("oncall", "3471234567", 3600).
-- With no on-call number the off-hours target of pbx.yaml stands.
ONCALL_URL = "http://127.0.0.1:8089/oncall"
ONCALL_GATEWAY = "gateway:p1"       -- the trunk that reaches mobiles
ONCALL_TIMEOUT_MS = 120             -- below scripts.timeout_ms (kv: oncall_timeout_ms)
ONCALL_CACHE_SECONDS = 300
ONCALL_RETRY_SECONDS = 30

local function oncall_number()
  local n = pbx.kv_get("oncall")
  if n or pbx.kv_get("oncall:down") then return n end
  local res, err = http.request{url = pbx.kv_get("oncall_url") or ONCALL_URL,
                                timeout_ms = pbx.kv_get("oncall_timeout_ms") or ONCALL_TIMEOUT_MS}
  local body = res and res.status == 200 and json.decode(res.body)
  if type(body) ~= "table" or type(body.number) ~= "string" or body.number == "" then
    pbx.log("warn", "no on-call number, off-hours target stands:", err or (res and res.status))
    pbx.kv_set("oncall:down", true, ONCALL_RETRY_SECONDS)
    return nil
  end
  pbx.kv_set("oncall", body.number, ONCALL_CACHE_SECONDS)
  return body.number
end

function on_offhours(call, decision)
  if call.test then return nil end  -- tests: check the plan, not who is on call
  local n = oncall_number()
  if not n then return nil end
  pbx.log("info", "off hours:", call.from, "->", n, "instead of", decision.target)
  return {target = ONCALL_GATEWAY, number = tostring(n)}  -- numbers are strings
end
