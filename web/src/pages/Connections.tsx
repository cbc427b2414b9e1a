import { PageHeader } from '../components/common';

export function ConnectionsPage() {
  return <PageHeader title="Connections" />;
}
