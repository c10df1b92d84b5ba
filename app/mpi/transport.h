#pragma once
// Byte strings between MPI ranks: a rank's results (results/results_wire.h streams) sent to
// rank 0. A message is its length (uint64) then the bytes in chunks of at most 1 GiB (MPI
// counts are int).
#include <string>

namespace tllm::mpi {

/// Sends `bytes` to rank `dest` (blocking).
void send_bytes(const std::string& bytes, int dest, int tag);
/// Receives what send_bytes sent from rank `src` with `tag` (blocking).
std::string recv_bytes(int src, int tag);

/// The rank and the number of ranks of MPI_COMM_WORLD.
int world_rank();
int world_size();

}  // namespace tllm::mpi
