import Roles

// The front-end role: the shared server options and assembly (Roles.RoleMain) with the
// front-end policy. One malloc arena first, before any other thread exists.
RoleMain.useOneMallocArena()
await RoleMain.run(FrontEndRole.self)
