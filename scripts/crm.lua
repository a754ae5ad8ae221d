-- crm.lua: look a caller up in a CRM over HTTP.
--
-- Defines plain functions (no hook): routing.lua's on_route calls
-- crm_account_manager(). Every *.lua file of this folder shares one
-- environment, and each hook may be defined by one file only, so helper
-- files like this one define functions and one file owns the hook.
--
-- The CRM answers   GET <CRM_URL>?number=<caller>
-- with 200 {"account_manager": "201"} for a known caller, 404 otherwise.
--
-- Set the URL here, or at run time with pbx.kv_set("crm_url", "http://...").
-- The default points at this machine, so nothing leaves it until you change
-- it; with no CRM running, calls get the built-in decision at once.
CRM_URL = "http://127.0.0.1:8089/crm/lookup"

-- Routing hooks have a budget (scripts.timeout_ms: 150 in pbx.yaml): the
-- lookup must give up before it, or the whole hook is cut off. Raise both
-- together for a slower CRM (or pbx.kv_set("crm_timeout_ms", 200)).
CRM_TIMEOUT_MS = 120

-- Answers are kept in the kv store for CRM_CACHE_SECONDS; after a failure
-- the CRM is left alone for CRM_RETRY_SECONDS so a dead CRM does not slow
-- every call down.
CRM_CACHE_SECONDS = 300
CRM_RETRY_SECONDS = 10

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- crm_account_manager returns the extension of the caller's account
-- manager ("201"), or nil: unknown caller, CRM down or slow.
function crm_account_manager(number)
  local key = "crm:" .. number
  local cached = pbx.kv_get(key)
  if cached ~= nil then
    if cached == "" then return nil end -- known unknown
    return cached
  end
  if pbx.kv_get("crm:down") then return nil end

  local url = (pbx.kv_get("crm_url") or CRM_URL) .. "?number=" .. escape(number)
  local timeout = pbx.kv_get("crm_timeout_ms") or CRM_TIMEOUT_MS
  local res, err = http.request{url = url, timeout_ms = timeout,
                                headers = {Accept = "application/json"}}
  if not res or res.status >= 500 then
    pbx.log("warn", "crm lookup failed, built-in routing:", err or res.status)
    pbx.kv_set("crm:down", true, CRM_RETRY_SECONDS)
    return nil
  end
  local manager = nil
  if res.status == 200 then
    local body = json.decode(res.body)
    local m = type(body) == "table" and body.account_manager
    if type(m) == "number" then m = string.format("%d", m) end  -- 201 as well as "201"
    if type(m) == "string" and m ~= "" then manager = m end
  end
  pbx.kv_set(key, manager or "", CRM_CACHE_SECONDS)
  return manager
end
