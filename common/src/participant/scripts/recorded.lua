-- The prelude of a participant's forward step scripts (stock's reserve.lua, payment's
-- charge.lua; `participant::step_script` prepends it): a step is applied once, and a repeat
-- answers the outcome its saga's record holds.
-- KEYS[1] is the saga's record, a hash whose `status` is the step's `taken` status, 'refused'
-- (with a `reason`), the undo step's `undone` status (a tombstone when the undo came first),
-- or absent. recorded(taken, undone) answers {'done'}, {'refused', reason}, {'cancelled'},
-- or nil when the step has not run yet.
local function recorded(taken, undone)
  local status = redis.call('HGET', KEYS[1], 'status')
  if status == taken then
    return {'done'}
  elseif status == 'refused' then
    return {'refused', redis.call('HGET', KEYS[1], 'reason') or ''}
  elseif status == undone then
    return {'cancelled'}
  end
  return nil
end

