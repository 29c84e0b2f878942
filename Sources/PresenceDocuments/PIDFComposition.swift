/// Composition of one presentity's state from the publications of all its devices
/// (RFC 3903 §4: the compositor is local policy; RFC 4479 §3.4 and RFC 3863 §4.1 give the
/// shape: a document of many tuples and one view of the person).
extension PIDFDocument {
    /// Composes `publications` (ordered oldest → newest) into the presentity's document:
    ///
    /// - **tuples**: every tuple of every publication, newest publication first; then, keeping
    ///   that order otherwise, open tuples before the others, since some watchers (libpurple)
    ///   read only the first tuple's `basic`. A tuple id already used by a newer publication
    ///   gets `-2`, `-3`, ... appended (RFC 3863 §4.1.1: ids are unique in a document).
    /// - **persons**: those of the newest publication that has any (the newest activities win;
    ///   a device that publishes only a tuple does not erase the person another device set).
    /// - **devices**: every `dm:device` of every publication, newest first, ids made unique too.
    /// - **notes** and **extensions**: those of the newest publication that has any.
    /// - **entity**: `entity`, whatever the publications say.
    public static func compose(entity: String, publications: [PIDFDocument]) -> PIDFDocument {
        let newestFirst = publications.reversed()
        var result = PIDFDocument(entity: entity)

        var usedTupleIDs = Set<String>()
        var tuples: [PresenceTuple] = []
        for publication in newestFirst {
            for var tuple in publication.tuples {
                tuple.id = unique(tuple.id, in: &usedTupleIDs)
                tuples.append(tuple)
            }
        }
        result.tuples = tuples.filter { $0.basic == .open } + tuples.filter { $0.basic != .open }

        var usedDeviceIDs = Set<String>()
        for publication in newestFirst {
            for var device in publication.devices {
                if let id = device.attribute("id") { device.setAttribute("id", to: unique(id, in: &usedDeviceIDs)) }
                result.devices.append(device)
            }
        }

        result.persons = newestFirst.first { !$0.persons.isEmpty }?.persons ?? []
        result.noteElements = newestFirst.first { !$0.noteElements.isEmpty }?.noteElements ?? []
        result.extensions = newestFirst.first { !$0.extensions.isEmpty }?.extensions ?? []
        return result
    }

    /// `id`, or `id-2`, `id-3`, ... if `id` is taken; marks the result taken.
    private static func unique(_ id: String, in used: inout Set<String>) -> String {
        var candidate = id
        var n = 1
        while used.contains(candidate) {
            n += 1
            candidate = "\(id)-\(n)"
        }
        used.insert(candidate)
        return candidate
    }
}
