-- vip.lua: callers who skip the queue and ring a group directly.
--
-- Plain data and a function; routing.lua's on_route uses them. Numbers are
-- strings, written as they arrive from the trunk (spaces and dashes are
-- ignored when comparing).
VIP_TARGET = "group:600"

VIP_NUMBERS = {
  ["+39 02 0000 0001"] = "Example Ltd. (replace with your VIPs)",
}

local function digits(n) return (n:gsub("[%s%-%.%(%)]", "")) end

local vips = {}
for number, name in pairs(VIP_NUMBERS) do vips[digits(number)] = name end

-- vip_name returns the VIP's name for a calling number, or nil.
function vip_name(number)
  return vips[digits(number or "")]
end
