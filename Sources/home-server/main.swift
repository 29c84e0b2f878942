import ArgumentParser

// Before any other thread exists (hence no `@main` on the command): see useOneMallocArena.
HomeServerCommand.useOneMallocArena()
do {
    let command = try HomeServerCommand.parse()
    await command.serve()
} catch {
    HomeServerCommand.exit(withError: error)
}
