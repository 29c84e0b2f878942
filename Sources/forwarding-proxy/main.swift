import Roles

// The forwarding-proxy role: the shared server options and assembly (Roles.RoleMain) with
// the static-route policy. One malloc arena first, before any other thread exists.
RoleMain.useOneMallocArena()
await RoleMain.run(ForwardingProxyRole.self)
