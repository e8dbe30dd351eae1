-- The prelude of an order's line edits (add_item.lua, remove_item.lua; store.rs prepends it
-- to them, after the idempotency prelude): an order takes an edit only when it exists, is
-- not paid and no checkout holds it (busy).
-- KEYS[1] order hash. editable() answers the order's {paid, busy, lines} fields, or nil
-- and the remembered answer that refuses the edit: {'missing'} | {'paid'} | {'busy'}.
local function editable()
  if redis.call('EXISTS', KEYS[1]) == 0 then return nil, remember({'missing'}) end
  local state = redis.call('HMGET', KEYS[1], 'paid', 'busy', 'lines')
  if state[1] == '1' then return nil, remember({'paid'}) end
  if state[2] and state[2] ~= '' then return nil, remember({'busy'}) end
  return state
end

