import Roles

// The home-server role: the shared server options and assembly (Roles.RoleMain) with the
// home-server policy. One malloc arena first, before any other thread exists (hence no
// `@main`): see RoleMain.useOneMallocArena.
RoleMain.useOneMallocArena()
await RoleMain.run(HomeServerRole.self)
