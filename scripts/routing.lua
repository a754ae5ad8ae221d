-- routing.lua: the one on_route hook of this folder.
--
-- Order: VIP callers ring VIP_TARGET (vip.lua); other outside callers the
-- CRM knows ring their account manager (crm.lua); everyone else gets the
-- built-in decision (return nil). Any error or a slow CRM also keeps the
-- built-in decision.
function on_route(call, decision)
  if call.caller_type ~= "external" then return nil end

  local vip = vip_name(call.from)
  if vip then
    pbx.log("info", "VIP caller", call.from, vip, "->", VIP_TARGET)
    return {target = VIP_TARGET, record = true}
  end

  -- Only calls the dial plan sends to a person or the voice menu: a caller
  -- headed for voicemail or a reject keeps it.
  local t = decision.target or ""
  if not (t:find("^ivr:") or t:find("^user:") or t:find("^group:")) then return nil end

  -- The plan's tests: (call.test) get the built-in answer whatever the CRM
  -- says today, so that a reload's checks do not depend on it.
  if call.test then return nil end
  local manager = crm_account_manager(call.from)
  if manager then
    return {target = "user:" .. manager}
  end
  return nil
end
