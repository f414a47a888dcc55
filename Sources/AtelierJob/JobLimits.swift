/// The largest values the fields that size buffers or time spans may take (docs/job-files.md,
/// "Limits"). Within them every size the trainer computes from the shape alone (vocab x hidden,
/// layers x 12 x hidden^2, the parameter count, global batch x seq_length) fits in 64 bits; the
/// sizes that multiply more fields (the activations' B x T x V and B x H x T^2) are counted with
/// overflow checks (`MemoryEstimate`), and whether it all fits in memory is `atelier train`'s check.
public enum JobLimits {
    public static let vocabSize = 1 << 24          // model.vocab_size (BLOOM: 250,880)
    public static let hiddenSize = 1 << 17         // model.hidden_size (BLOOM-176B: 14,336)
    public static let layers = 4096                // model.layers (BLOOM-176B: 70)
    public static let sequenceLength = 1 << 20     // model.seq_length (BLOOM: 2,048)
    public static let microBatchSize = 1 << 16     // batch.micro_batch_size
    public static let globalBatchSize = 1 << 24    // batch.global_batch_size (BLOOM-176B: 2,048)
    /// distributed.bucket_mb, MiB: a bucket stays far below MPI's 2^31-1 element count.
    public static let bucketMegabytes = 1024.0
    public static let blasThreads = 1024           // distributed.blas_threads
    /// distributed.collective_timeout_seconds and accounting.interval_seconds (checkpoint.interval_minutes
    /// up to the same span): 10^6 s, 11.6 days; beyond it a timer's nanoseconds would overflow.
    public static let seconds = 1e6
}
