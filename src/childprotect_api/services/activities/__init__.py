"""Care work: activities (关爱服务/活动台账), sites (阵地) and their photos."""
