#include "transport.h"

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace tllm::mpi {
namespace {

constexpr std::size_t kChunk = std::size_t(1) << 30;

void check(int rc, const char* what) {
    if (rc != MPI_SUCCESS)
        throw std::runtime_error(std::string("MPI: ") + what + " failed (code " + std::to_string(rc) + ")");
}

}  // namespace

void send_bytes(const std::string& bytes, int dest, int tag) {
    const std::uint64_t n = bytes.size();
    check(MPI_Send(&n, 1, MPI_UINT64_T, dest, tag, MPI_COMM_WORLD), "MPI_Send (length)");
    for (std::size_t pos = 0; pos < bytes.size(); pos += kChunk) {
        const int len = int(std::min(kChunk, bytes.size() - pos));
        check(MPI_Send(bytes.data() + pos, len, MPI_BYTE, dest, tag, MPI_COMM_WORLD), "MPI_Send");
    }
}

std::string recv_bytes(int src, int tag) {
    std::uint64_t n = 0;
    check(MPI_Recv(&n, 1, MPI_UINT64_T, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv (length)");
    std::string bytes(n, '\0');
    for (std::size_t pos = 0; pos < bytes.size(); pos += kChunk) {
        const int len = int(std::min(kChunk, bytes.size() - pos));
        check(MPI_Recv(bytes.data() + pos, len, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    }
    return bytes;
}

int world_rank() {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int world_size() {
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

}  // namespace tllm::mpi
