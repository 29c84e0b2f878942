import OutOfOffice
import Roles

// A home server whose routing policy has one step of the user's own (OutOfOffice): the
// same three lines as Sources/home-server/main.swift, with another role.
RoleMain.useOneMallocArena()  // before any other thread exists
await RoleMain.run(OutOfOfficeServerRole.self)
