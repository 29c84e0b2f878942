import SIPCore
import Testing

@Suite("Kernel random")
struct KernelRandomTests {
    /// Across several refills of the 512-number buffer: no number twice, no zero run, and
    /// every bit position takes both values (a buffer left unfilled would give zeros).
    @Test func numbersAcrossRefillsAreDistinctAndUseEveryBit() {
        var generator = KernelRandom()
        let numbers: [UInt64] = (0..<2_000).map { i in i % 2 == 0 ? generator.next() : KernelRandom.next() }
        #expect(Set(numbers).count == numbers.count)
        #expect(numbers.reduce(0, |) == UInt64.max)
        #expect(numbers.reduce(UInt64.max, &) == 0)
    }

    @Test func lowercaseHexIsZeroPaddedToItsDigits() {
        #expect(lowercaseHex(0xAB, digits: 16) == "00000000000000ab")
        #expect(lowercaseHex(.max, digits: 16) == "ffffffffffffffff")
        #expect(lowercaseHex(0x1234_5678_9ABC_DEF0, digits: 8) == "9abcdef0")  // the low digits
    }
}
